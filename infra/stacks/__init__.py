"""One module per deployable stack."""
