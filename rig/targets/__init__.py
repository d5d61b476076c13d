"""Target kinds, one module each; see rig.targets.registry for the seam they implement."""
