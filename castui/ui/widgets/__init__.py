"""One module per panel of the console; each turns engine views into cells, nothing more."""
