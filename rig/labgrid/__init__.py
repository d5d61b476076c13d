"""Boards on other hosts through labgrid (the optional extra `pip install '.[labgrid]'`).

- board.py: the `RigBoard` resource (a rig target spec on an exporter's host) and `RigDriver`, loaded
  into labgrid through an environment's `imports:` (no fork of labgrid).
- place.py: acquiring and always releasing a labgrid place through `labgrid-client`, waiting while
  another user holds it.
- target.py: the `labgrid:PLACE` target kind: acquires the place, finds its RigBoard and opens that
  board's own target on this host when the exporter is this host.
- remote.py: `rig test|run|latency|throughput --rig=labgrid:PLACE`: the command runs on the
  exporter's host (so network jitter never enters a latency figure) and its reports come back.
"""
