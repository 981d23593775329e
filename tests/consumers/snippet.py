#!/usr/bin/env python3
"""Extracts a code snippet of README.md (the fenced block right after `<!-- snippet:NAME -->`)
and writes it as a whole program, so that the README's snippets are compiled and run exactly as
written. The program around a snippet defines what the README says it assumes: `path` (the
model, the first argument), `doc`, `question`, `ctx` and `print_piece`.

  snippet.py README.md NAME              the program (C, C++, Go, CMake, Swift) on stdout
  snippet.py README.md NAME --command    the build command of the snippet's first line
                                         (`// cc app.c ...`), without the comment marker
  snippet.py README.md NAME --raw        the block as written
"""
import re
import sys

DOC = ("The lighthouse keeper of Ardmore was called Niamh. Every evening she climbed the 112 steps "
       "of the tower and lit the lamp before sunset.")
QUESTION = "What was the lighthouse keeper called?"


def block(readme, name):
    marker = f"<!-- snippet:{name} -->"
    if readme.count(marker) != 1:
        sys.exit(f"snippet.py: README.md has {readme.count(marker)} `{marker}` markers, expected 1")
    after = readme.split(marker, 1)[1]
    match = re.match(r"\s*```[a-z+]*\n(.*?)\n```", after, re.S)
    if not match:
        sys.exit(f"snippet.py: no fenced block right after `{marker}`")
    return match.group(1).split("\n")


def split(lines, prefix):
    """(lines starting with `prefix`, the other lines), build-command comments dropped."""
    heads = [line for line in lines if line.startswith(prefix)]
    body = [line for line in lines if not line.startswith(prefix) and not re.match(r"// (cc|c\+\+) ", line)]
    return heads, body


def indent(lines, by="    "):
    return "\n".join(by + line if line else line for line in lines)


def program(name, lines):
    if name == "c":
        includes, body = split(lines, "#include")
        return f"""#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
{chr(10).join(includes)}

static bool print_piece(const char *text, size_t len, const int32_t *tokens, size_t n_tokens, void *user_data) {{
    (void)tokens;
    (void)n_tokens;
    (void)user_data;
    fwrite(text, 1, len, stdout);
    return true;
}}

int main(int argc, char **argv) {{
    if (argc != 2) return 2;
    const char *path = argv[1];
    const char *doc = "{DOC}";
    const char *question = "{QUESTION}";
    (void)doc;
    (void)question;
{indent(body)}
    printf("\\n");
    return 0;
}}
"""
    if name == "cpp":
        includes, body = split(lines, "#include")
        return f"""#include <cstdio>
#include <iostream>
#include <string_view>
{chr(10).join(includes)}

int main(int argc, char **argv) {{
    if (argc != 2) return 2;
    const char *path = argv[1];
    std::string_view doc = "{DOC}";
    std::string_view question = "{QUESTION}";
    (void)doc;
    (void)question;
    try {{
{indent(body, "        ")}
    }} catch (const focusllm::Error &error) {{
        std::fprintf(stderr, "focusllm error %d: %s\\n", error.status(), error.what());
        return 1;
    }}
    std::cout << std::endl;
    return 0;
}}
"""
    if name == "go":
        imports, body = split(lines, "import ")
        imports = [line[len("import "):] for line in imports]
        return f"""package main

import (
\t"context"
\t"fmt"
\t"log"
\t"os"

\t{chr(10).join(imports)}
)

func main() {{
\tpath := os.Args[1]
\tdoc := "{DOC}"
\tquestion := "{QUESTION}"
\tctx := context.Background()
\t_, _, _ = doc, question, ctx // not every snippet uses all three
{indent(body, chr(9))}
\tfmt.Println()
}}
"""
    if name == "cmake":
        return "cmake_minimum_required(VERSION 3.16)\nproject(app C)\n" + "\n".join(lines) + "\n"
    if name == "swift":
        imports, body = split(lines, "import ")
        body = [line for line in body if not line.startswith("//")]
        return "\n".join(imports) + f"""

func readme(path: String, doc: String, question: String) async throws {{
{indent(body)}
}}
"""
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    readme, name = open(sys.argv[1]).read(), sys.argv[2]
    lines = block(readme, name)
    mode = sys.argv[3] if len(sys.argv) == 4 else ""
    if mode == "--raw":
        print("\n".join(lines))
    elif mode == "--command":
        match = re.match(r"// ((cc|c\+\+) .*)$", lines[0])
        if not match:
            sys.exit(f"snippet.py: the {name} snippet does not start with a `// cc ...` build line")
        print(match.group(1))
    elif mode == "":
        # `c-chat`, `go-chat`, ...: the same language, the same names around it.
        sys.stdout.write(program(name.removesuffix("-chat"), lines))
    else:
        sys.exit(f"snippet.py: unknown option {mode}")


if __name__ == "__main__":
    main()
