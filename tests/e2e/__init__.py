"""The end-to-end layer: pytest in a subprocess, the real wandb SDK, the stand-in backend.

What a user of the plugin sees: throwaway projects recorded against the stand-in, then
replayed, audited, interrupted, run in parallel. Seconds per test.
"""
