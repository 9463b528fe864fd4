; Atlas query for Nim: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name (plain, or exported with `*`), @import on
; an import, `from … import` or include statement (symbols.py reads their module paths).

(proc_declaration
  name: [(identifier) @name (exported_symbol (identifier) @name)]) @definition.function

(func_declaration
  name: [(identifier) @name (exported_symbol (identifier) @name)]) @definition.function

(method_declaration
  name: [(identifier) @name (exported_symbol (identifier) @name)]) @definition.method

(iterator_declaration
  name: [(identifier) @name (exported_symbol (identifier) @name)]) @definition.function

(converter_declaration
  name: [(identifier) @name (exported_symbol (identifier) @name)]) @definition.function

(template_declaration
  name: [(identifier) @name (exported_symbol (identifier) @name)]) @definition.macro

(macro_declaration
  name: [(identifier) @name (exported_symbol (identifier) @name)]) @definition.macro

(type_declaration
  (type_symbol_declaration
    name: [(identifier) @name (exported_symbol (identifier) @name)])
  (object_declaration)) @definition.class

(type_declaration
  (type_symbol_declaration
    name: [(identifier) @name (exported_symbol (identifier) @name)])
  (ref_type)) @definition.class

(type_declaration
  (type_symbol_declaration
    name: [(identifier) @name (exported_symbol (identifier) @name)])
  (enum_declaration)) @definition.enum

(type_declaration
  (type_symbol_declaration
    name: [(identifier) @name (exported_symbol (identifier) @name)])
  [(type_expression) (distinct_type) (pointer_type)]) @definition.type

(source_file
  (const_section
    (variable_declaration
      (symbol_declaration_list
        (symbol_declaration
          name: [(identifier) @name (exported_symbol (identifier) @name)]))) @definition.constant))

(source_file
  (let_section
    (variable_declaration
      (symbol_declaration_list
        (symbol_declaration
          name: [(identifier) @name (exported_symbol (identifier) @name)]))) @definition.variable))

(source_file
  (var_section
    (variable_declaration
      (symbol_declaration_list
        (symbol_declaration
          name: [(identifier) @name (exported_symbol (identifier) @name)]))) @definition.variable))

[(import_statement) (import_from_statement) (include_statement)] @import
