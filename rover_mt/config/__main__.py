"""Print the settings reference page: ``python -m rover_mt.config > docs/configuration.md``."""

from .docs import configuration_page

print(configuration_page(), end="")
