from apps.core.rendering import render_markdown


def test_markdown_renders_code_and_lists():
    html = str(render_markdown("# Title\n\n- one\n- two\n\n```python\nprint('hi')\n```"))
    assert "<h1>Title</h1>" in html
    assert "<li>one</li>" in html
    assert "<pre><code" in html


def test_script_and_event_handlers_never_survive():
    payloads = [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<svg onload="alert(1)"></svg>',
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    ]
    for payload in payloads:
        html = str(render_markdown(payload))
        for tag in ("<script", "<img", "<svg", "<iframe"):
            assert tag not in html, (payload, html)
        assert 'href="javascript:' not in html


def test_html_in_model_output_shows_as_text():
    html = str(render_markdown("<b>bold?</b> <script>x()</script>"))
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html
