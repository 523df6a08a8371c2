// The UI's only static files: one small stylesheet and one small script (the upload progress
// bar and the import-job poll). Served from memory with a content hash in the URL, so a phone
// caches them for good and a new lanboot version busts the cache. Strict CSP: no inline code.
import crypto from 'node:crypto';

export const UI_CSS = `
:root{--fg:#1b1f24;--muted:#5b6570;--bg:#f5f6f8;--card:#fff;--line:#d9dde3;--accent:#0b63ce;--ok:#11753b;--warn:#9a5b00;--bad:#b3261e}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:.5rem;padding:.6rem 1rem;background:#14213d;color:#fff}
header a{color:#fff;text-decoration:none}
header .brand{font-weight:700;margin-right:auto}
nav{display:flex;overflow-x:auto;gap:.25rem;padding:.4rem .6rem;background:#fff;border-bottom:1px solid var(--line)}
nav a{padding:.45rem .7rem;border-radius:.4rem;text-decoration:none;color:var(--fg);white-space:nowrap}
nav a[aria-current=page]{background:#e6effb;color:var(--accent);font-weight:600}
main{padding:.8rem;max-width:60rem;margin:0 auto}
h1{font-size:1.35rem;margin:.4rem 0 .8rem}
h2{font-size:1.1rem;margin:1.2rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.8rem;margin:0 0 .8rem}
.row{display:flex;flex-wrap:wrap;gap:.4rem .8rem;align-items:center}
.muted{color:var(--muted);font-size:.9rem}
.code{font:700 1.6rem/1 ui-monospace,monospace;letter-spacing:.15em}
.mono{font-family:ui-monospace,monospace;font-size:.9rem;word-break:break-all}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-size:.8rem;background:#e9ecef}
.badge.on{background:#d7f2e0;color:var(--ok)}.badge.off{background:#eceff2;color:var(--muted)}
.badge.state-up{background:#d7f2e0;color:var(--ok)}.badge.state-off{background:#eceff2;color:var(--muted)}.badge.state-booting{background:#e6effb;color:var(--accent)}.badge.state-fault{background:#fdecea;color:var(--bad)}
form.search{flex-wrap:nowrap}form.search input{flex:1}.counts .badge{margin-right:.3rem}.chart{margin:0}.chart figcaption{font-weight:600;font-size:.95rem}
.notice{padding:.6rem .8rem;border-radius:.5rem;margin:0 0 .8rem;border:1px solid}
.notice.ok{background:#e7f6ec;border-color:#9bd3ad;color:var(--ok)}
.notice.error{background:#fdecea;border-color:#f1a9a3;color:var(--bad)}
.notice.warn{background:#fff4e0;border-color:#f0c987;color:var(--warn)}
label{display:block;margin:.5rem 0 .2rem;font-weight:600;font-size:.95rem}
input,select,button{font:inherit}
input[type=text],input[type=password],input[type=number],select,input[type=file]{width:100%;padding:.6rem;border:1px solid var(--line);border-radius:.45rem;background:#fff}
button,.button{display:inline-block;min-height:2.75rem;padding:.55rem 1rem;border:0;border-radius:.45rem;background:var(--accent);color:#fff;font-weight:600;text-decoration:none;cursor:pointer}
button.secondary{background:#e6effb;color:var(--accent)}
button.danger{background:var(--bad)}
form.inline{display:inline}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th,td{text-align:left;padding:.45rem .3rem;border-bottom:1px solid var(--line);vertical-align:top}
progress{width:100%;height:1.2rem}
.qr svg{width:12rem;height:12rem;display:block}
.qr figure{margin:0 0 .8rem}
.label .qr svg{width:16rem;height:16rem}
.timeline{list-style:none;padding:0;margin:0}
.timeline li{padding:.35rem 0;border-bottom:1px dashed var(--line)}
.actions{display:flex;flex-wrap:wrap;gap:.5rem}
.actions form{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:0;max-width:100%}
.actions form:has(input[type=text]),.actions form:has(select),.actions form:has(input[type=checkbox]){flex-basis:100%}
.actions form input[type=text],.actions form select{flex:1 1 8rem;width:auto;min-width:0;max-width:100%}
.actions form label{margin:0;font-weight:400}
@media print{header,nav{display:none}body{background:#fff}}
`;

export const UI_JS = `
(function(){
  // Home: a PC that starts network-booting shows up without a manual reload. Polls the
  // waiting list; reloads when it changed, unless the user is filling in a form.
  var list=document.getElementById('waiting');
  if(!list)return;
  var shown=list.getAttribute('data-codes')||'';
  function busy(){var a=document.activeElement;if(a&&(a.tagName==='INPUT'||a.tagName==='SELECT'))return true;
    return Array.prototype.some.call(list.querySelectorAll('input[name=name]'),function(i){return i.value!==''})}
  (function tick(){
    fetch('/api/v1/waiting',{headers:{accept:'application/json'}}).then(function(r){return r.json()}).then(function(pcs){
      var codes=pcs.map(function(p){return p.code}).sort().join(',');
      if(codes!==shown&&!busy()){location.reload();return}
      setTimeout(tick,3000);
    }).catch(function(){setTimeout(tick,5000)});
  })();
})();
(function(){
  // Import jobs running on the box (USB): update their bars, reload the page when one ends.
  Array.prototype.forEach.call(document.querySelectorAll('.card.job[data-job]'),function(card){
    var id=card.getAttribute('data-job'),bar=card.querySelector('progress');
    (function tick(){
      fetch('/api/v1/imports/'+encodeURIComponent(id),{headers:{accept:'application/json'}}).then(function(r){return r.json()}).then(function(job){
        if(job.bytesTotal){bar.max=job.bytesTotal;bar.value=job.bytesDone||0}
        if(job.state==='running'){setTimeout(tick,1000)}else{location.reload()}
      }).catch(function(){setTimeout(tick,2000)});
    })();
  });
})();
(function(){
  var form=document.getElementById('upload');
  if(!form)return;
  var bar=document.getElementById('upload-progress'),text=document.getElementById('upload-text');
  var csrf=document.querySelector('meta[name=csrf-token]').getAttribute('content');
  function show(msg,kind){text.textContent=msg;text.className='notice '+(kind||'ok');text.hidden=false}
  function poll(id){
    fetch('/api/v1/imports/'+encodeURIComponent(id),{headers:{accept:'application/json'}}).then(function(r){return r.json()}).then(function(job){
      if(job.bytesTotal){bar.max=job.bytesTotal;bar.value=job.bytesDone||0}
      if(job.state==='running'){show('Importing on the box: '+Math.round(100*(job.bytesDone||0)/(job.bytesTotal||1))+' %');setTimeout(function(){poll(id)},500);return}
      if(job.state==='done'){show('Published version '+job.version+'.');setTimeout(function(){location.reload()},800);return}
      show('Import failed: '+((job.error&&job.error.message)||job.errorMessage||'unknown error'),'error');
    }).catch(function(){setTimeout(function(){poll(id)},1000)});
  }
  form.addEventListener('submit',function(ev){
    ev.preventDefault();
    var name=form.elements['image'].value.trim(),file=form.elements['file'].files[0];
    if(!file){show('Choose a disk image file first.','error');return}
    var xhr=new XMLHttpRequest();
    xhr.open('POST','/api/v1/images/'+encodeURIComponent(name)+'/versions');
    xhr.setRequestHeader('content-type','application/octet-stream');
    xhr.setRequestHeader('x-csrf-token',csrf);
    bar.hidden=false;bar.value=0;bar.max=file.size||1;
    form.querySelector('button').disabled=true;
    xhr.upload.onprogress=function(e){if(e.lengthComputable){bar.max=e.total;bar.value=e.loaded;show('Uploading: '+Math.round(100*e.loaded/e.total)+' %')}};
    xhr.onload=function(){
      form.querySelector('button').disabled=false;
      var body={};try{body=JSON.parse(xhr.responseText)}catch(e){}
      if(xhr.status===202&&body.id!==undefined){poll(body.id);return}
      if(xhr.status>=200&&xhr.status<300){bar.value=bar.max;show('Published '+body.name+' version '+body.number+'.');setTimeout(function(){location.reload()},800);return}
      show('Upload refused: '+((body.error&&body.error.message)||('HTTP '+xhr.status)),'error');
    };
    xhr.onerror=function(){form.querySelector('button').disabled=false;show('Upload failed: the connection to the box broke.','error')};
    xhr.send(file);
  });
})();
`;

function hashOf(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 12);
}

export const CSS_PATH = `/assets/ui-${hashOf(UI_CSS)}.css`;
export const JS_PATH = `/assets/ui-${hashOf(UI_JS)}.js`;
