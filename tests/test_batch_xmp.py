"""XMP sidecars: dc:subject keywords, merged into what is there without losing anything else."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tessera.batch.store import StoredResult
from tessera.batch.xmp import DC, RDF, sidecar_path, write_sidecars

LR = "http://ns.adobe.com/lightroom/1.0/"
XMP = "http://ns.adobe.com/xap/1.0/"
DARKTABLE = "http://darktable.sf.net/"

EXISTING = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0">
 <rdf:RDF xmlns:rdf="{RDF}">
  <rdf:Description rdf:about="" xmlns:xmp="{XMP}" xmlns:darktable="{DARKTABLE}"
     xmp:Rating="4" darktable:xmp_version="5">
   <darktable:history><rdf:Seq><rdf:li darktable:operation="exposure"/></rdf:Seq></darktable:history>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="{DC}" xmlns:lr="{LR}">
   <!-- tagged by hand -->
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>tabby</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>places|Rome</rdf:li></rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def cat(path, score=0.8):
    return StoredResult(str(path), 10, 20, "h", [
        {"index": 281, "label": "tabby, tabby cat", "score": score},
        {"index": 285, "label": "Egyptian cat", "score": 0.3},
        {"index": 282, "label": "tiger cat", "score": 0.05}], "webgpu", 5.0, None, 1.0)


def keywords(sidecar):
    return [li.text for li in ET.parse(sidecar).getroot().iter(f"{{{RDF}}}li")
            if li.text and "|" not in li.text]


def test_a_new_sidecar_gets_the_confident_labels(tmp_path):
    photo = tmp_path / "cat.jpg"
    report = write_sidecars([cat(photo)])
    assert report.written == 1
    assert keywords(tmp_path / "cat.jpg.xmp") == ["tabby", "Egyptian cat"]
    assert (tmp_path / "cat.jpg.xmp").read_text(encoding="utf-8").startswith("<?xpacket begin")


def test_merging_keeps_other_namespaces_comments_and_keywords(tmp_path):
    sidecar = tmp_path / "cat.jpg.xmp"
    sidecar.write_text(EXISTING, encoding="utf-8")
    assert write_sidecars([cat(tmp_path / "cat.jpg")]).written == 1
    text = sidecar.read_text(encoding="utf-8")
    root = ET.fromstring(text.split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    assert keywords(sidecar) == ["holiday", "tabby", "Egyptian cat"]       # added once, after
    subjects = list(root.iter(f"{{{DC}}}subject"))
    assert len(subjects) == 1
    assert [li.text for li in root.iter(f"{{{RDF}}}li") if li.text and "|" in li.text] == ["places|Rome"]
    first = root.find(f".//{{{RDF}}}Description")
    assert first.get(f"{{{XMP}}}Rating") == "4"
    assert first.find(f"{{{DARKTABLE}}}history/{{{RDF}}}Seq/{{{RDF}}}li").get(f"{{{DARKTABLE}}}operation") == "exposure"
    assert "<!-- tagged by hand -->" in text
    assert "xmlns:lr=" in text and "xmlns:darktable=" in text    # the file's own prefixes stay
    assert text.rstrip().endswith('<?xpacket end="w"?>')
    again = write_sidecars([cat(tmp_path / "cat.jpg")])
    assert (again.written, again.unchanged) == (0, 1)


def test_a_broken_sidecar_is_reported_and_left_alone(tmp_path):
    sidecar = tmp_path / "cat.jpg.xmp"
    sidecar.write_text("<x:xmpmeta", encoding="utf-8")
    report = write_sidecars([cat(tmp_path / "cat.jpg")])
    assert report.written == 0
    assert report.failed[0][1].startswith("the existing sidecar is not valid XML")
    assert sidecar.read_text() == "<x:xmpmeta"


def test_errors_and_guesses_get_no_sidecar(tmp_path):
    failed = StoredResult(str(tmp_path / "bad.jpg"), 0, 0, None, [], None, None, "corrupt", None)
    report = write_sidecars([failed, cat(tmp_path / "unsure.jpg", score=0.1)], min_score=0.5)
    assert report.written == 0 and not list(tmp_path.iterdir())


def test_sidecars_can_go_into_a_chosen_folder_or_by_stem(tmp_path):
    photos, into = tmp_path / "photos", tmp_path / "sidecars"
    assert sidecar_path(str(photos / "a" / "cat.jpg"), stem=True) == photos / "a" / "cat.xmp"
    write_sidecars([cat(photos / "a" / "cat.jpg")], into=into, relative_to=photos)
    assert keywords(into / "a" / "cat.jpg.xmp") == ["tabby", "Egyptian cat"]
    assert not photos.exists()
