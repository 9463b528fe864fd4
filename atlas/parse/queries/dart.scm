; Atlas query for Dart: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on the URI of an import,
; export or part directive (`package:http/src/client.dart`, `src/x.dart`). A function's or method's signature
; and its body are sibling nodes: both are captured, so the definition spans the body.

(class_definition
  name: (identifier) @name) @definition.class

(mixin_declaration
  (identifier) @name) @definition.class

(extension_declaration
  name: (identifier) @name) @definition.class

(enum_declaration
  name: (identifier) @name) @definition.enum

(type_alias
  (type_identifier) @name) @definition.type

; Top-level functions and getters.
((function_signature
  name: (identifier) @name) @definition.function
  .
  (function_body) @definition.function)

((getter_signature
  name: (identifier) @name) @definition.function
  .
  (function_body) @definition.function)

; Methods, getters, setters and constructors in a class, mixin, extension or enum body.
((method_signature
  [(function_signature name: (identifier) @name)
   (getter_signature name: (identifier) @name)
   (setter_signature name: (identifier) @name)
   (factory_constructor_signature (identifier) @name)]) @definition.method
  .
  (function_body) @definition.method)

(declaration
  (function_signature
    name: (identifier) @name)) @definition.method

(import_or_export
  (library_import (import_specification (configurable_uri (uri (string_literal) @import)))))

(import_or_export
  (library_export (configurable_uri (uri (string_literal) @import))))

(part_directive
  (uri (string_literal) @import))
