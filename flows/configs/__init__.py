"""The job configurations that ship with riverbed, as package data (TOML files): ``demo.toml``,
the configuration of ``riverbed demo``."""

__all__: list[str] = []
