"""What experiments are made of: the bulk-flow runner (sha256-checked
transfers), trials in virtual time, sweeps over parameters, plots, the
impairment relay between real hosts, and units.  Nothing here imports the
command line (``emutcp.tools``)."""
