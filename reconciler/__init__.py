"""campaignctl: campaign-as-code for outbound sales and recruiting."""

__version__ = "0.1.0"
