; Atlas query for Groovy: definitions and imports.
; Captures: @definition.<kind> on a whole definition, @name on its name, @keyword on the word that defines it,
; @import on an import statement. The grammar reads Groovy as commands of words and blocks, so a declaration is
; told by its words: `class`, `interface`, `enum` or `trait` then the name (symbols.py keeps those keywords),
; and a method is a block opened by a call form (`name(args) {`) after a type, `def` or a modifier (@after:
; symbols.py drops the ones after `new`, `return` and other words that make the block an expression).
; No text predicates: a tree parsed from a read callback has no text for them to read.

(command
  (unit (identifier) @keyword)
  .
  (unit (identifier) @name)) @definition.class

(command
  (unit (identifier) @keyword)
  .
  (block
    .
    (unit (identifier) @name))) @definition.class

(block
  (command
    (unit) @after
    .
    (block
      .
      (unit
        (func
          (identifier) @name)))
    ) @definition.method)

(source_file
  (command
    (unit) @after
    .
    (block
      .
      (unit
        (func
          (identifier) @name)))
    ) @definition.function)

; Top-level commands; symbols.py keeps the ones that are imports.
(source_file
  (command) @import)

; Words the file uses: a class of the file's own package needs no import (symbols.py keeps the capitalised ones).
(unit
  (identifier) @reference)
