"""What the rig writes for people: files created with explicit modes, and device strings made safe
for Markdown reports. No dependencies, so every layer may use it."""
