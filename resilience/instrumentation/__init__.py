"""Optional instrumentation backends (Prometheus), one module per component.

Nothing here is imported by the components until a backend is asked for, so importing
``resilience`` never imports ``prometheus_client``.
"""
