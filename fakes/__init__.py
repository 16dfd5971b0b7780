"""Local fakes of outside services, each speaking that service's real wire format on 127.0.0.1.

Shared by tests/ and bench/; product code never imports them and they are not shipped (pyproject lists
the packages it installs).
"""
