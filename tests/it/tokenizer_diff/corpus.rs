//! The differential-test corpus: hand-picked cases plus seeded random mixtures of tricky
//! fragments (emoji and ZWJ sequences, CJK, odd whitespace, numbers, code, accents, special
//! token text).

/// Hand-picked inputs, each aimed at one rule of the pre-tokenizer or the special-token split.
pub const CASES: &[&str] = &[
    "",
    " ",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    // Emoji, skin tones, ZWJ sequences, flags, variation selectors.
    "I ❤️ Rust 🦀🔥",
    "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag, 🇫🇷🇯🇵 flags",
    "🙂🙂🙂 ... 🙂 🙂",
    // CJK and other scripts.
    "中文分词测试：你好，世界！",
    "日本語のテキスト、カタカナとひらがな。",
    "한국어 문장입니다.",
    "Русский текст, ελληνικά, עברית, العربية",
    "混合 mixed 文本 text123中",
    // Odd whitespace.
    "tab\tseparated\tvalues",
    "two  spaces   three    four",
    "windows\r\nline\r\nendings\r\n",
    "trailing spaces   ",
    "   leading spaces",
    "non\u{a0}breaking\u{a0}\u{a0}space",
    "ideographic\u{3000}space and\u{2009}thin",
    "line\u{2028}separator\u{85}next line",
    "\n\n\nnewlines\n\n",
    " \t \n \r ",
    "zero\u{200b}width\u{200d}joiner",
    // Numbers.
    "1234567890",
    "3.14159 and 2,718 and -42 and 1e-9",
    "Phone: +1 (555) 010-9999",
    "٣٤٥ arabic-indic, ²³ superscripts, ½ fraction, Ⅻ roman",
    // Code.
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
    "def f(x):\n\treturn x**2  # square\n",
    "if (a && b || !c) { x->y = z[i]; }",
    "<div class=\"x\">&amp;</div>",
    "SELECT * FROM t WHERE id = 'abc';",
    // Accents, composed and decomposed.
    "café naïve résumé Ångström",
    "cafe\u{301} nai\u{308}ve",
    "Ünïcödé ßtraße",
    // Contractions.
    "it's they're we've I'm you'll he'd",
    "IT'S THEY'RE 'S 'quoted'",
    // Special-token text.
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<|im_end|>text",
    "<|im_start|><|im_start|>",
    "<|im_start",
    "<repo_name>x<reponame>y<file_sep>",
    " <|im_start|> spaced <|im_end|> ",
    // Control characters.
    "bell\u{7}escape\u{1b}[0m null\u{0}byte",
    "\u{feff}BOM at start",
    // Bytes SmolLM2's vocabulary has no token for (0x04, 0x1D; lead byte 0xF1): llama.cpp emits
    // nothing for them and merges nothing across them.
    "!\u{4}! a\u{1d}b \u{4}\u{4}",
    "plane 5: \u{50000}\u{4ffff}!",
    "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f} tag sequence flag",
];

/// Fragments the random mixtures are built from.
const FRAGMENTS: &[&str] = &[
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "a",
    "Z",
    "word",
    " the",
    "é",
    "e\u{301}",
    "中文",
    "日本",
    "한국",
    "🙂",
    "👨‍👩‍👧",
    "🏳️‍🌈",
    "👍🏾",
    "\u{200d}",
    "\u{fe0f}",
    "1",
    "23",
    "456",
    "٣",
    "²",
    "'s",
    "'LL",
    "'",
    "<|im_start|>",
    "<|im_end|>",
    "<",
    "|",
    ">",
    "{",
    "}",
    "(",
    ")",
    ";",
    ".",
    ",",
    "!",
    "?",
    "-",
    "_",
    "/",
    "\\",
    "\"",
    "#",
    "$",
    "%",
    "&",
    "*",
    "+",
    "=",
    "@",
    "^",
    "`",
    "~",
    "Ω",
    "ß",
    "ﬁ",
    "\u{7}",
    "\u{4}",
    "\u{1d}",
    "\u{50000}",
    "\u{e0067}",
];

/// `n` random mixtures of 1..=12 fragments, from a fixed seed (the test is reproducible).
pub fn generated(n: usize, mut seed: u64) -> Vec<String> {
    let mut next = move || {
        // xorshift64*: enough to spread fragments; the corpus is fixed by the seed.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    (0..n)
        .map(|_| {
            let len = 1 + (next() % 12) as usize;
            (0..len).map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]).collect()
        })
        .collect()
}
