"""Release tools: the scripts the Build and Train stages run (and a person runs on a laptop).

Each module does one step; ``python -m release_tools.<module> --help`` shows
its command line. Errors are reported as one line and a non-zero exit code.
"""
