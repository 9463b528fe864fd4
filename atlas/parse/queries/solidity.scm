; Atlas query for Solidity: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on an import's source.
; A contract is a class, a library a module; events and custom errors are types.

(contract_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(library_declaration
  name: (identifier) @name) @definition.module

(function_definition
  name: (identifier) @name) @definition.function

(contract_body
  (function_definition
    name: (identifier) @name) @definition.method)

(contract_body
  (modifier_definition
    name: (identifier) @name) @definition.method)

(struct_declaration
  name: (identifier) @name) @definition.struct

(enum_declaration
  name: (identifier) @name) @definition.enum

(event_definition
  name: (identifier) @name) @definition.type

(error_declaration
  name: (identifier) @name) @definition.type

(user_defined_type_definition
  name: (identifier) @name) @definition.type

(contract_body
  (state_variable_declaration
    name: (identifier) @name) @definition.variable)

(source_file
  (constant_variable_declaration
    name: (identifier) @name) @definition.constant)

(import_directive
  source: (string) @import)
