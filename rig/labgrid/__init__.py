"""Boards on other hosts through labgrid (the optional extra `pip install '.[labgrid]'`).

- board.py: what an environment's `imports:` loads (no fork of labgrid): the resources of
  resources.py (RigBoard: the USB device; RigConsole: the CDC port; RigBootselDrive: the BOOTSEL
  drive) and the drivers of driver.py (RigDriver: rig commands; RigFlashDriver; RigConsoleDriver).
- hosts.py: running a command on the exporter's host, here or over ssh.
- flashing.py: flashing through the BOOTSEL drive on the board's host (rig.tools.flash's sequence;
  an emulated board's drive is a directory whose UF2 becomes the image it boots).
- place.py: acquiring and always releasing a labgrid place through `labgrid-client`, waiting while
  another user holds it.
- target.py: the `labgrid:PLACE` target kind: acquires the place, finds its RigBoard and opens that
  board's own target on this host when the exporter is this host.
- remote.py: `rig test|run|latency|throughput --rig=labgrid:PLACE`: the command runs on the
  exporter's host (so network jitter never enters a latency figure) and its reports come back.
"""
