"""goodsflow: the command line and settings that assemble the packages."""
