"""Training: the chain that reproduces the served network (python -m models COMMAND)."""
