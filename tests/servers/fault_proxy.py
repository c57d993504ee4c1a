#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of the real local server (moto), for lakesight's fault tests.

It forwards every request to the upstream unchanged, except where a fault is asked for:
  --athena-state STATE   GetQueryExecution answers Status.State = STATE (FAILED, CANCELLED, RUNNING)
                         with a StateChangeReason naming this proxy
  --athena-scanned N     GetQueryExecution answers Statistics.DataScannedInBytes = N
  --athena-poll-error    GetQueryExecution answers 400 InvalidRequestException (the poll itself fails)
  --s3-503 K             the first K S3 requests get 503 SlowDown (S3's throttling answer)
  --reset K              the first K S3 GETs of an object send the headers and half the body,
                         then reset the connection (TCP RST)
  --deny TEXT            S3 requests whose path contains TEXT get 403 AccessDenied
  --fail TEXT            S3 GETs whose path contains TEXT get 503 SlowDown, every time (a store
                         that stays unavailable for one object beyond the client's retries)
GET /__proxy/calls lists what was forwarded or faulted, as JSON: [{"target": ..., "method": ...,
"path": ..., "fault": ...}], so a test can check e.g. that StopQueryExecution was called.

Standard library only; prints the port it listens on (0 = pick one) and serves until killed.
"""
import argparse
import http.client
import http.server
import json
import socket
import struct
import sys
import threading
import urllib.parse

CALLS = []
LOCK = threading.Lock()
COUNTERS = {"s3_503": 0, "reset": 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="host:port of the real server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--athena-state")
    ap.add_argument("--athena-scanned", type=int)
    ap.add_argument("--athena-poll-error", action="store_true")
    ap.add_argument("--s3-503", type=int, default=0)
    ap.add_argument("--reset", type=int, default=0)
    ap.add_argument("--deny")
    ap.add_argument("--fail")
    args = ap.parse_args()
    up_host, up_port = args.upstream.split(":")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def record(self, target, fault):
            with LOCK:
                CALLS.append({"target": target, "method": self.command, "path": self.path, "fault": fault})

        def take(self, name, limit):
            with LOCK:
                if COUNTERS[name] < limit:
                    COUNTERS[name] += 1
                    return True
            return False

        def reply(self, status, content_type, body):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def s3_error(self, status, code, message):
            xml = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
            self.reply(status, "application/xml", xml.encode())

        def handle_any(self):
            if self.path == "/__proxy/calls":
                self.reply(200, "application/json", json.dumps(CALLS).encode())
                return
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self.read_chunked()
            target = self.headers.get("X-Amz-Target", "")
            is_s3 = not target
            if is_s3 and args.deny and args.deny in urllib.parse.unquote(self.path):
                self.record(target, "403")
                self.s3_error(403, "AccessDenied", "Access Denied")
                return
            if is_s3 and args.fail and self.command == "GET" and args.fail in urllib.parse.unquote(self.path):
                self.record(target, "503")
                self.s3_error(503, "SlowDown", "Please reduce your request rate.")
                return
            if target.endswith("GetQueryExecution") and args.athena_poll_error:
                self.record(target, "poll-error")
                doc = {"__type": "InvalidRequestException", "Message": "poll refused by lakesight's fault proxy"}
                self.reply(400, "application/x-amz-json-1.1", json.dumps(doc).encode())
                return
            if is_s3 and self.take("s3_503", args.s3_503):
                self.record(target, "503")
                self.s3_error(503, "SlowDown", "Please reduce your request rate.")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",)}
            headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(up_host, int(up_port), timeout=60)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            up_length = resp.getheader("Content-Length")
            out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "content-length", "connection")]
            conn.close()
            fault = None
            if target.endswith("GetQueryExecution") and status == 200 and (args.athena_state or args.athena_scanned is not None):
                doc = json.loads(data)
                qe = doc.setdefault("QueryExecution", {})
                if args.athena_state:
                    qe["Status"] = dict(qe.get("Status", {}), State=args.athena_state,
                                        StateChangeReason=f"{args.athena_state} injected by lakesight's fault proxy")
                    fault = args.athena_state
                if args.athena_scanned is not None:
                    qe["Statistics"] = dict(qe.get("Statistics", {}), DataScannedInBytes=args.athena_scanned)
                    fault = (fault or "") + f" scanned={args.athena_scanned}"
                data = json.dumps(doc).encode()
            if is_s3 and self.command == "GET" and status in (200, 206) and len(data) > 1 and "?" not in self.path and self.take("reset", args.reset):
                self.record(target, "reset")
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                # SO_LINGER 0: close() sends RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            self.record(target, fault)
            self.send_response(status)
            for k, v in out_headers:
                self.send_header(k, v)
            # A HEAD answer carries the object's length but no body.
            length = up_length if self.command == "HEAD" and up_length is not None else str(len(data))
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def read_chunked(self):
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    sys.stdout.close()
    srv.serve_forever()


if __name__ == "__main__":
    main()
