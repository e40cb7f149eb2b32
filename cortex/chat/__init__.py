"""The chat vocabulary: what a client asks for and what an answer is made of.

Every plane speaks these types: the HTTP plane parses requests into them and renders
answers from them, the wire adapters translate them to and from each provider's format,
the data plane relays them and the cache keeps them. They know nothing of any provider.

An answer has two shapes and one way between them:

    LiveAnswer   who is answering, and its events as they arrive (streamed or replayed)
        |  fold / gather (AnswerFold): the one place events become a whole answer
        v
    WholeAnswer  who wrote it, its text in pieces, why it ended, its usage

Beyond text, a request may carry images (:class:`ImagePart` in a message's ``parts``),
tools the model may call (:class:`Tool`, :class:`ToolChoice`), a structured-output
format (:class:`ResponseFormat`) and tuning options; an answer may carry tool calls
(streamed as :class:`ToolCallDelta` fragments, folded into :class:`ToolCall`) and
reasoning text (:class:`ReasoningDelta`). OpenAI's Chat Completions shapes are the model:
every adapter translates from and to them.

A request names who answers in two separate fields: ``model`` (a model name, a route or
``auto``) and ``pin`` (a worker the client chose). A client's ``"<worker>/<model>"`` is
read into the two by :func:`split_pin` once, where the request enters the gateway.

Embeddings (:class:`EmbeddingRequest`, :class:`Embeddings`) are the other thing a client
may ask for, with the same ``model`` and ``pin`` fields.
"""

from cortex.chat.answer import (
    INCOMPLETE,
    INCOMPLETE_CODE,
    AnswerFold,
    Continued,
    Finished,
    LiveAnswer,
    Malformed,
    ReasoningDelta,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    Usage,
    WholeAnswer,
    fold,
    gather,
    incomplete,
    is_incomplete,
)
from cortex.chat.embedding import EmbeddingRequest, Embeddings
from cortex.chat.request import (
    ROLES,
    ChatRequest,
    ImagePart,
    JsonObject,
    Message,
    NativeBody,
    Part,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    split_pin,
)

CachedAnswer = WholeAnswer | Embeddings
"""What the response cache keeps: a whole chat answer, or the vectors of an embeddings request."""

__all__ = [
    "INCOMPLETE",
    "INCOMPLETE_CODE",
    "ROLES",
    "AnswerFold",
    "CachedAnswer",
    "ChatRequest",
    "Continued",
    "EmbeddingRequest",
    "Embeddings",
    "Finished",
    "ImagePart",
    "JsonObject",
    "LiveAnswer",
    "Malformed",
    "Message",
    "NativeBody",
    "Part",
    "ReasoningDelta",
    "ResponseFormat",
    "StreamEvent",
    "StreamFailed",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
    "WholeAnswer",
    "fold",
    "gather",
    "incomplete",
    "is_incomplete",
    "split_pin",
]
