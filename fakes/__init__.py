"""Local fakes of outside services, each speaking that service's real wire format on 127.0.0.1."""
