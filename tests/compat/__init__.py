"""`make compat`: the frameworks' own test suites with a do-nothing interceptor inserted."""
