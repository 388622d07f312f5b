#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub's download endpoints, for tests/e2e/pull.sh.

Serves the files under --files as repository --repo (models, or datasets with
--repo-type dataset) on 127.0.0.1, on a free port written to --port-file:
  GET /api/{models|datasets}/{repo}/revision/{rev}?blobs=true   listing (sha, siblings)
  GET /[datasets/]{repo}/resolve/{rev}/{path}                   a file; *.safetensors and
      *.bin are LFS files, redirected (302) to /cdn/{sha256} on a second port (another
      origin, like the Hub's CDN), which refuses an Authorization header as presigned
      storage does
Range requests get 206 (or 416 past the end). --token makes a token required (401),
--cut-once cuts the first file reply halfway, --wrong-sha lists wrong sha256 values.
Python standard library only; stops after --lifetime seconds in any case.
"""
import argparse
import hashlib
import json
import os
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def load_files(root):
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as f:
                files[rel] = f.read()
    return files


def is_lfs(path):
    return path.endswith((".safetensors", ".bin"))


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-hub"

    def log_message(self, fmt, *args):  # one line per request on stderr, for debugging
        sys.stderr.write("mock-hub: %s %s\n" % (self.path, self.headers.get("Range", "")))

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, status, code, text):
        self.reply(status, text.encode(), [("X-Error-Code", code), ("X-Error-Message", text)])

    def admitted(self, repo, kind):
        opts = self.server.opts
        if opts.token and self.headers.get("Authorization") != "Bearer " + opts.token:
            self.refuse(401, "RepoNotFound", "Invalid credentials in Authorization header")
            return False
        if repo != opts.repo or kind != opts.repo_type:
            self.refuse(404, "RepoNotFound", "Repository not found")
            return False
        return True

    def revision_ok(self, rev):
        if rev in ("main", COMMIT):
            return True
        self.refuse(404, "RevisionNotFound", "Invalid rev id: " + rev)
        return False

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        files = self.server.files
        m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)/revision/(.+)", path)
        if m:
            if not self.admitted(m.group(2), m.group(1)[:-1]) or not self.revision_ok(m.group(3)):
                return
            siblings = []
            for p, data in sorted(files.items()):
                s = {"rfilename": p, "size": len(data), "blobId": git_blob_id(data)}
                if is_lfs(p):
                    sha = "e" * 64 if self.server.opts.wrong_sha else hashlib.sha256(data).hexdigest()
                    s["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
                    s["blobId"] = "b" * 40
                siblings.append(s)
            body = json.dumps({"id": self.server.opts.repo, "sha": COMMIT, "siblings": siblings})
            return self.reply(200, body.encode(), [("Content-Type", "application/json")])
        m = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            kind = "dataset" if m.group(1) else "model"
            if not self.admitted(m.group(2), kind) or not self.revision_ok(m.group(3)):
                return
            data = files.get(m.group(4))
            if data is None:
                return self.refuse(404, "EntryNotFound", "Entry not found")
            headers = [("X-Repo-Commit", COMMIT)]
            if is_lfs(m.group(4)):
                sha = hashlib.sha256(data).hexdigest()
                cdn = "http://127.0.0.1:%d/cdn/%s" % (self.server.cdn_port, sha)
                headers += [("Location", cdn), ("X-Linked-Size", str(len(data))),
                            ("X-Linked-Etag", '"%s"' % sha)]
                return self.reply(302, b"", headers)
            return self.serve(data, headers + [("ETag", '"%s"' % git_blob_id(data))])
        m = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
        if m:
            if "Authorization" in self.headers:
                return self.reply(400, b"Only one auth mechanism allowed")
            for data in files.values():
                if hashlib.sha256(data).hexdigest() == m.group(1):
                    return self.serve(data, [])
        self.reply(404, b"not found")

    def serve(self, data, headers):
        start = 0
        rng = self.headers.get("Range")
        status = 200
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                return self.reply(416, b"", [("Content-Range", "bytes */%d" % len(data))])
            status = 206
            headers = headers + [("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))]
        body = data[start:]
        with self.server.lock:
            cut = self.server.cuts_left > 0
            self.server.cuts_left -= cut
        if not cut:
            return self.reply(status, body, headers)
        self.send_response(status)  # promise all of it, send half, hang up
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--repo-type", default="model")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--cut-once", action="store_true")
    ap.add_argument("--wrong-sha", action="store_true")
    ap.add_argument("--lifetime", type=float, default=120)
    opts = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    for s in (server, cdn):
        s.daemon_threads = True
        s.opts, s.files = opts, load_files(opts.files)
        s.lock, s.cuts_left = threading.Lock(), 1 if opts.cut_once else 0
        s.cdn_port = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, opts.port_file)
    threading.Timer(opts.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
