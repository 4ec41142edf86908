"""The conformance suite's reference tools, resources and prompts, for the conformance run only.

`@modelcontextprotocol/conformance` calls items by fixed names (`test_simple_text`,
`test://static-text`, `test_prompt_with_arguments`, ...) and checks the shape of what comes
back; each scenario's description (`conformance list --server`, the scenario sources) says what
it expects. These are registered on the local stack started by `tests/e2e/conformance_harness.py`
through `LocalStackOptions.extra_tool_modules`, never on the deployed server nor on the stack the
other end-to-end tests use (they assert the template's own tool list).

The binary payloads (a 1x1 PNG, a short WAV) are built here at import: nothing binary is committed.
"""

from __future__ import annotations

import io
import json
import struct
import wave
import zlib
from collections.abc import Callable
from typing import Annotated, Any, cast

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import Message, UserMessage
from mcp.server.mcpserver.resolve import Resolve, Sample
from mcp.server.mcpserver.utilities.types import Audio, Image
from mcp_types import (
    Completion,
    CompletionArgument,
    ContentBlock,
    CreateMessageResult,
    EmbeddedResource,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    TextContent,
    TextResourceContents,
)
from pydantic import Field

from app.mcp.permissions import ScopedServer

COMPLETION_VALUES = ("paris", "park", "party")
# SEP-2243: a 2026-07-28 client repeats this argument in an `Mcp-Param-Region` header, and the
# server must check that the header and the body agree.
HEADER: dict[str, Any] = {"x-mcp-header": "Region"}


def _png_1x1_red() -> bytes:
    """A valid 1x1 red RGB PNG (signature, IHDR, IDAT, IEND), built from the PNG spec."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # width, height, 8-bit, truecolour
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte 0, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence() -> bytes:
    """A valid 10 ms mono 8 kHz 16-bit WAV of silence (the stdlib writes the RIFF header)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * 80)
    return buffer.getvalue()


PNG = _png_1x1_red()
WAV = _wav_silence()


def _embedded_text(uri: str, text: str, mime_type: str = "text/plain") -> EmbeddedResource:
    return EmbeddedResource(
        type="resource", resource=TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    )


def _ask_the_model() -> Sample:
    """A resolver that needs the client's LLM: the SDK refuses (-32021) a client without `sampling`."""
    prompt = SamplingMessage(role="user", content=TextContent(type="text", text="Say hi"))
    return Sample([prompt], max_tokens=16)


def register(server: ScopedServer) -> None:
    """Register what the suite's server scenarios call (none needs a scope beyond the base one)."""

    @server.tool()
    def test_simple_text() -> str:
        """Answer a fixed text (scenario tools-call-simple-text)."""
        return "This is a simple text response for testing."

    @server.tool()
    def test_image_content() -> Image:
        """Answer a 1x1 red PNG (scenario tools-call-image)."""
        return Image(data=PNG, format="png")

    @server.tool()
    def test_audio_content() -> Audio:
        """Answer a short WAV (scenario tools-call-audio)."""
        return Audio(data=WAV, format="wav")

    @server.tool()
    def test_embedded_resource() -> list[ContentBlock]:
        """Answer an embedded text resource (scenario tools-call-embedded-resource)."""
        return [_embedded_text("test://embedded-resource", "This is an embedded resource content.")]

    @server.tool()
    def test_multiple_content_types() -> list[ContentBlock]:
        """Answer text, an image and an embedded resource at once (scenario tools-call-mixed-content)."""
        return [
            TextContent(type="text", text="Multiple content types test:"),
            Image(data=PNG, format="png").to_image_content(),
            _embedded_text(
                "test://mixed-content-resource",
                json.dumps({"test": "data", "value": 123}),
                "application/json",
            ),
        ]

    @server.tool()
    def test_error_handling() -> str:
        """Always fail with a tool error, `isError: true` (scenario tools-call-error)."""
        raise ToolError("This tool intentionally returns an error for testing")

    @server.tool()
    def test_missing_capability(answer: Annotated[CreateMessageResult, Resolve(_ask_the_model)]) -> str:
        """Need the client's `sampling` capability (scenario server-stateless, SEP-2575 -32021 check)."""
        return "sampled"

    @server.tool()
    def test_custom_header(
        region: Annotated[str, Field(description="Also sent as Mcp-Param-Region.", json_schema_extra=HEADER)],
    ) -> str:
        """Take an argument the client repeats in a header (scenario http-custom-header-server-validation)."""
        return f"region {region}"

    @server.resource(
        "test://static-text", name="static-text", description="A fixed text.", mime_type="text/plain"
    )
    def static_text() -> str:
        return "This is the content of the static text resource."

    @server.resource(
        "test://static-binary", name="static-binary", description="A 1x1 PNG.", mime_type="image/png"
    )
    def static_binary() -> bytes:
        return PNG

    @server.resource(
        "test://template/{id}/data",
        name="template-data",
        description="JSON data for an id.",
        mime_type="application/json",
    )
    def template_data(id: str) -> str:
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @server.prompt()
    def test_simple_prompt() -> str:
        """A prompt without arguments (scenario prompts-get-simple)."""
        return "This is a simple prompt for testing."

    @server.prompt()
    def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
        """A prompt with two required arguments (scenario prompts-get-with-args)."""
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"

    @server.prompt()
    def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:
        """A prompt embedding the resource it is given (scenario prompts-get-embedded-resource)."""
        return [
            UserMessage(_embedded_text(resourceUri, "Embedded resource content for testing.")),
            UserMessage("Please process the embedded resource above."),
        ]

    @server.prompt()
    def test_prompt_with_image() -> list[Message]:
        """A prompt with an image (scenario prompts-get-with-image)."""
        return [UserMessage(Image(data=PNG, format="png")), UserMessage("Please analyze the image above.")]

    async def complete(
        ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: Any
    ) -> Completion | None:
        """Suggestions for `test_prompt_with_arguments` (scenario completion-complete)."""
        if isinstance(ref, PromptReference) and ref.name == "test_prompt_with_arguments":
            values = [value for value in COMPLETION_VALUES if value.startswith(argument.value)]
            return Completion(values=values, total=len(values), has_more=False)
        return None

    # The SDK's `completion()` decorator carries no type annotations.
    cast("Callable[[], Callable[[Callable[..., Any]], object]]", server.mcp.completion)()(complete)
