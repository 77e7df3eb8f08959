"""The pure core: request models, card rendering, alert correlation. No I/O and no framework imports."""
