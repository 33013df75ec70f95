"""Network drivers (controller side): which declared networks this host has, and
removing the links ostium made once nothing uses them."""
