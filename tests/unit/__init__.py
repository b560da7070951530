"""The fast layer: the library's modules in this process, each test in milliseconds.

No pytest in a subprocess, no wandb-core, no SDK run; a stand-in or a relay only in this
process (a loopback server in a thread). ``make unit`` runs this layer alone.
"""
