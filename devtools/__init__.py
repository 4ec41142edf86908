"""Local tooling: event builders, the in-process Lambda runtime, the gateway emulator and CLI.

Never bundled into a Lambda asset.
"""
