"""(commands of this stage are added by its module)."""
