"""The exceptions the forms package raises on purpose.

Both are ``ValueError`` subclasses so callers that do not care about forms specifically can
still treat them as bad input; the engine turns them into its own ``DeployRejected`` /
``InvalidInput`` errors so this package never has to import the engine.
"""

from __future__ import annotations

__all__ = ["FormFileError", "FormSchemaError"]


class FormFileError(ValueError):
    """A form file is missing, is not UTF-8 text, is not JSON, or is not a JSON object.

    ``file``, ``line`` and ``column`` are kept separately (``None`` when unknown) so the
    engine can build a deploy ``Problem`` pointing at the exact place.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        return f"{where}: {self.message}" if where else self.message

    def in_file(self, file: str) -> FormFileError:
        """Return the same error, now naming the file it came from."""
        return FormFileError(self.message, file=file, line=self.line, column=self.column)


class FormSchemaError(ValueError):
    """A form schema cannot be used to validate data (it is not valid JSON Schema, or a
    ``$ref`` in it cannot be resolved).

    Deploy-time checks (``check_form_schema``) should make this unreachable at run time;
    raising it keeps a broken schema from silently accepting every submission.
    """
