; Atlas query for Perl: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name.

(package_statement
  name: (package) @name) @definition.module

(subroutine_declaration_statement
  name: (bareword) @name) @definition.function

; `use Mojo::Base -base;`, `require Carp;` → the module
(use_statement
  module: (package) @import)

(require_expression
  (bareword) @import)
