; Atlas query for PowerShell: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @import on a command (symbols.py keeps
; dot-sourced scripts and `Import-Module` of a path beside the script: `. "$PSScriptRoot/x.ps1"`).

(function_statement
  (function_name) @name) @definition.function

(class_statement
  .
  (simple_name) @name) @definition.class

(class_method_definition
  (simple_name) @name) @definition.method

(enum_statement
  .
  (simple_name) @name) @definition.enum

(command) @import
