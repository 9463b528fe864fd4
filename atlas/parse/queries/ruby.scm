; Atlas query for Ruby: definitions and requires.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a
; `require`/`require_relative`/`load` call (symbols.py prefixes relative requires with ./).

(class
  name: [(constant) (scope_resolution)] @name) @definition.class

(module
  name: [(constant) (scope_resolution)] @name) @definition.module

(method
  name: (_) @name) @definition.function

(singleton_method
  name: (_) @name) @definition.function

; Methods directly in a class or module body (including `class << self`).
(class
  body: (body_statement
    [(method name: (_) @name) (singleton_method name: (_) @name)] @definition.method))

(module
  body: (body_statement
    [(method name: (_) @name) (singleton_method name: (_) @name)] @definition.method))

(singleton_class
  body: (body_statement
    [(method name: (_) @name) (singleton_method name: (_) @name)] @definition.method))

(assignment
  left: (constant) @name) @definition.constant

; Calls with a string first argument; symbols.py keeps require, require_relative and load.
(call
  method: (identifier)
  arguments: (argument_list . (string))) @import
