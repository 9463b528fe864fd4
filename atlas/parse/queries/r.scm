; Atlas query for R: definitions.
; Captures: @definition.<kind> on a whole definition, @name on its name. A function is an assignment of a
; `function(...)` (`f <- function(x)`, `f = function(x)`); other top-level assignments are variables.

(binary_operator
  lhs: (identifier) @name
  rhs: (function_definition)) @definition.function

(program
  (binary_operator
    lhs: (identifier) @name) @definition.variable)

; Calls with a string first argument; symbols.py keeps `source("R/x.R")`.
(call
  function: (identifier)
  arguments: (arguments . (argument value: (string)))) @import
