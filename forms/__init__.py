"""Task forms: JSON Schema files, their deploy-time checks and validation of submitted data.

Pure Python on top of ``jsonschema``: no web framework, database or workflow engine here.
The engine converts ``FieldError`` and ``FormFileError`` into its own error types.
"""

from forms.errors import FormFileError, FormSchemaError
from forms.form_files import Form, FormRef, load_form
from forms.schema_check import check_form_schema, check_ui_schema
from forms.validation import FieldError, validate_form
from forms.validator_cache import clear_validator_cache, compiled_validator

__all__ = [
    "FieldError",
    "Form",
    "FormFileError",
    "FormRef",
    "FormSchemaError",
    "check_form_schema",
    "check_ui_schema",
    "clear_validator_cache",
    "compiled_validator",
    "load_form",
    "validate_form",
]
