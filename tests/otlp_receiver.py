"""A real OTLP/HTTP metrics receiver on loopback that decodes what the exporter sent with opentelemetry-proto.

No OpenTelemetry Collector installs here (Debian ships only the Go library, PyPI has no collector, and
building `otelcol` from source is hours of Go on two shared cores), so the tests receive OTLP/HTTP
themselves: the wire bytes come from the real `opentelemetry-exporter-otlp-proto-http`, and the protobuf
definitions that decode them are the project's own (`opentelemetry-proto`)."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OtlpReceiver:
    """Collects every ``ExportMetricsServiceRequest`` POSTed to ``/v1/metrics``, with its headers (names
    lower-cased)."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        self.requests: list[Any] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                if self.path != "/v1/metrics":
                    self.send_error(404)
                    return
                message = metrics_service_pb2.ExportMetricsServiceRequest()
                message.ParseFromString(data)
                receiver.requests.append(message)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                body = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def points(self) -> list[tuple[int, dict[str, str], str, dict[str, Any], float, int]]:
        """Every gauge data point: (request index, resource attributes, metric name, point attributes,
        value, time_unix_nano)."""
        found = []
        for index, request in enumerate(self.requests):
            for resource_metrics in request.resource_metrics:
                resource = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        for point in metric.gauge.data_points:
                            attributes = {a.key: _value(a.value) for a in point.attributes}
                            value = point.as_double if point.HasField("as_double") else point.as_int
                            found.append((index, resource, metric.name, attributes, value,
                                          point.time_unix_nano))
        return found

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
