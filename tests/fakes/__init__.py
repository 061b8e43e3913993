"""Local fakes of the payment channels (WeChat Pay v3, Alipay) that speak the real protocols over HTTP on 127.0.0.1,
so the app's channel adapters are tested against real signatures, encryption, states and faults."""
