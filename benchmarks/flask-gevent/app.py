"""The original Flask video-streaming design, as a benchmark baseline.

Same structure as the classic Flask + gevent camera server: a background camera thread started
by the first viewer and stopped after 10 s without one, publishing each frame to one event per
viewer thread; every viewer's generator waits on its own event and yields the frame as a
multipart part. The camera plays every *.jpg of a folder at a fixed rate, like framering's
`files` driver. Parts carry X-Timestamp (capture time) so the load generator can measure latency.

Run with Debian's python3-flask and python3-gevent:
    /usr/bin/python3 app.py --frames DIR --fps 30 --port 5100
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import glob  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from flask import Flask, Response  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

IDLE_SECONDS = 10


class FrameSignal:
    """One threading.Event per viewer thread (greenlet under gevent), as in the original."""

    def __init__(self):
        self.waiters = {}

    def wait(self, timeout=None):
        me = threading.get_ident()
        entry = self.waiters.get(me)
        if entry is None:
            entry = self.waiters[me] = [threading.Event(), time.time()]
        return entry[0].wait(timeout)

    def publish(self):
        now = time.time()
        stale = []
        for ident, entry in self.waiters.items():
            if not entry[0].is_set():
                entry[0].set()
                entry[1] = now
            elif now - entry[1] > 5:
                stale.append(ident)  # that viewer has not collected a frame for 5 s: gone
        for ident in stale:
            self.waiters.pop(ident, None)

    def clear(self):
        self.waiters[threading.get_ident()][0].clear()


class FolderCamera:
    frame = None
    captured_at = 0.0
    last_access = 0.0
    thread = None
    signal = FrameSignal()

    def __init__(self, files, fps):
        cls = FolderCamera
        cls.files = files
        cls.fps = fps
        if cls.thread is None:
            cls.last_access = time.time()
            cls.thread = threading.Thread(target=cls._run, daemon=True)
            cls.thread.start()
            while cls.frame is None:
                time.sleep(0.01)

    def get_frame(self):
        cls = FolderCamera
        cls.last_access = time.time()
        cls.signal.wait()
        cls.signal.clear()
        return cls.frame, cls.captured_at

    @classmethod
    def _frames(cls):
        images = [open(f, "rb").read() for f in cls.files]
        interval = 1.0 / cls.fps
        due = time.time()
        i = 0
        while True:
            yield images[i % len(images)]
            i += 1
            due += interval
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                due = time.time()

    @classmethod
    def _run(cls):
        for frame in cls._frames():
            cls.frame = frame
            cls.captured_at = time.time()
            cls.signal.publish()
            time.sleep(0)
            if time.time() - cls.last_access > IDLE_SECONDS:
                break
        cls.thread = None


def create_app(files, fps):
    app = Flask(__name__)

    def parts(camera):
        while True:
            frame, captured_at = camera.get_frame()
            yield (
                b"--frame\r\nContent-Type: image/jpeg\r\n"
                + ("X-Timestamp: %.6f\r\n\r\n" % captured_at).encode()
                + frame
                + b"\r\n"
            )

    @app.route("/video_feed")
    def video_feed():
        return Response(parts(FolderCamera(files, fps)), mimetype="multipart/x-mixed-replace; boundary=frame")

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, help="folder of *.jpg frames")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5100)
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.frames, "*.jpg")))
    if not files:
        parser.error("no *.jpg in %s" % args.frames)
    server = WSGIServer((args.host, args.port), create_app(files, args.fps), log=None)
    server.start()  # binds now, so the port is known (0 picks a free one)
    print("listening %d" % server.address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
