; Atlas query for C#: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a using directive
; (symbols.py keeps the namespace or type, without an alias).

(class_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(struct_declaration
  name: (identifier) @name) @definition.struct

(interface_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(delegate_declaration
  name: (identifier) @name) @definition.type

(method_declaration
  name: (identifier) @name) @definition.method

(constructor_declaration
  name: (identifier) @name) @definition.method

(destructor_declaration
  name: (identifier) @name) @definition.method

(local_function_statement
  name: (identifier) @name) @definition.function

(namespace_declaration
  name: [(identifier) (qualified_name)] @name) @definition.module

(file_scoped_namespace_declaration
  name: [(identifier) (qualified_name)] @name) @definition.module

(using_directive) @import

; Type names the file uses (a declaration's type, `new T()`, a base type, a type argument, `T.Member`): a C# file
; names the types it needs, not their files; symbols.py keeps the capitalised ones, and the resolver links each
; to the file named after it.
(_ type: (identifier) @reference)
(base_list (identifier) @reference)
(generic_name (identifier) @reference)
(type_argument_list (identifier) @reference)
(member_access_expression
  expression: (identifier) @reference)
(attribute
  name: (identifier) @reference)
