; Atlas query for Objective-C: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. A method is named by its selector's
; first part (`initWithNamespace:diskCacheDirectory:` → initWithNamespace).

(class_interface
  . (identifier) @name) @definition.class

(class_implementation
  . (identifier) @name) @definition.class

(protocol_declaration
  . (identifier) @name) @definition.interface

(method_definition
  (method_type)
  . (identifier) @name) @definition.method

(method_declaration
  (method_type)
  . (identifier) @name) @definition.method

(function_definition
  declarator: (function_declarator
    declarator: (identifier) @name)) @definition.function

(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator
      declarator: (identifier) @name))) @definition.function

(struct_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @definition.enum

(type_definition
  declarator: (type_identifier) @name) @definition.type

(preproc_include
  path: [(string_literal) (system_lib_string)] @import)
