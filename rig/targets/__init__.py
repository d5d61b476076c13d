"""Target kinds, one module each; see rig.target for the seam they implement."""
