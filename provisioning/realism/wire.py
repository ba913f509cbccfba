"""HTTP messages as the proxy sees them, and AWS's error and XML shapes for the protocols involved.

Kept apart from the server so that the per-service rules work on plain values and can be read
without knowing anything about sockets.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import parse_qsl, urlsplit

_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/,]+/([^/,]+)/aws4_request")
DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    service: str | None = None  # the SigV4 credential scope's service, None when unsigned
    action: str | None = None  # Action=... (query protocol) or the X-Amz-Target operation (JSON)
    params: dict[str, str] = field(default_factory=dict)  # query protocol form fields
    payload: dict = field(default_factory=dict)  # JSON protocol body
    target: str = ""  # X-Amz-Target as sent

    @classmethod
    def parse(cls, method: str, path: str, headers: dict[str, str], body: bytes) -> "Request":
        req = cls(method, path, headers, body)
        match = _SCOPE.search(headers.get("authorization", ""))
        req.service = match.group(1) if match else None
        target = headers.get("x-amz-target", "")
        if target:
            # DynamoDB Streams signs as "dynamodb" too: its rules look at the target's prefix.
            req.target = target
            req.action = target.split(".", 1)[1] if "." in target else target
            try:
                loaded = json.loads(body or b"{}")
                req.payload = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                req.payload = {}
            return req
        form = urlsplit(path).query
        if "x-www-form-urlencoded" in headers.get("content-type", ""):
            form = f"{form}&{body.decode('utf-8', 'replace')}" if form else body.decode("utf-8", "replace")
        req.params = dict(parse_qsl(form, keep_blank_values=True))
        req.action = req.params.get("Action")
        return req

    def flag(self, name: str) -> bool:
        return self.params.get(name, "").lower() == "true"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def with_body(self, body: bytes) -> "Response":
        # The length is set by the server when it writes; the CRC must follow the body (botocore
        # checks x-amz-crc32 on DynamoDB answers and rejects a stale one).
        headers = [(k, v) for k, v in self.headers if k.lower() not in ("content-length", "x-amz-crc32")]
        if self.header("x-amz-crc32") is not None:
            headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))
        return Response(self.status, headers, body)


def request_id() -> str:
    return uuid.uuid4().hex


def query_error(namespace: str, code: str, message: str, status: int = 400) -> Response:
    """RDS/ElastiCache error body (awsQuery): ErrorResponse/Error/{Type,Code,Message}."""
    rid = request_id()
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{_esc(code)}</Code>'
        f"<Message>{_esc(message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
    ).encode()
    return Response(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body)


def ec2_error(code: str, message: str, status: int = 400) -> Response:
    """EC2's own error shape: Response/Errors/Error/{Code,Message} and RequestID."""
    rid = request_id()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{_esc(code)}</Code><Message>{_esc(message)}</Message></Error></Errors>"
        f"<RequestID>{rid}</RequestID></Response>"
    ).encode()
    return Response(status, [("Content-Type", "text/xml;charset=UTF-8"), ("x-amzn-RequestId", rid)], body)


def json_response(obj: object, status: int = 200) -> Response:
    body = json.dumps(obj).encode()
    rid = request_id()
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", rid),
               ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF))]
    return Response(status, headers, body)


def dynamodb_error(code: str, message: str) -> Response:
    return json_response({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}, 400)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- XML, namespace-agnostic (moto answers in the service's namespace; botocore ignores it) ---

def parse_xml(body: bytes) -> tuple[ET.Element, str] | None:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    return root, namespace


def dump_xml(root: ET.Element, namespace: str) -> bytes:
    if namespace:
        return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=namespace)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def local(elem: ET.Element) -> str:
    return elem.tag.rsplit("}", 1)[-1]


def qname(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}" if namespace else name


def child(elem: ET.Element, name: str) -> ET.Element | None:
    for sub in elem:
        if local(sub) == name:
            return sub
    return None


def child_text(elem: ET.Element, name: str) -> str | None:
    sub = child(elem, name)
    return sub.text if sub is not None else None


def set_child_text(elem: ET.Element, name: str, text: str, namespace: str) -> None:
    sub = child(elem, name)
    if sub is None:
        sub = ET.SubElement(elem, qname(namespace, name))
    sub.text = text


def remove_children(elem: ET.Element, name: str) -> None:
    for sub in [s for s in elem if local(s) == name]:
        elem.remove(sub)


def iter_named(root: ET.Element, name: str) -> Iterator[ET.Element]:
    return (e for e in root.iter() if local(e) == name)


def find_path(root: ET.Element, path: str) -> list[ET.Element]:
    """All elements under root along 'a/b/c' by local names (any depth for the first step)."""
    first, *rest = path.split("/")
    found = list(iter_named(root, first))
    for step in rest:
        found = [s for e in found for s in e if local(s) == step]
    return found
