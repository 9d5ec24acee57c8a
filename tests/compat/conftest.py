"""Keep the compat harness out of `make test`: it runs other projects' suites, not ours."""

collect_ignore_glob = ["*"]
