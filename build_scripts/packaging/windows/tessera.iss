; Inno Setup script for Tessera's Windows installer. NOT YET RUN: written for Inno Setup 6 and
; the hosted CI (.github/workflows/build.yml), never built or installed yet.
;
; build_app.py runs it as
;   iscc /DAppVersion=<version> /DSourceDir=<the PyInstaller folder> /DIconFile=<tessera.ico> /O<dist> tessera.iss
; It installs per user by default (no administrator needed; the wizard offers all users), adds a
; Start-menu entry for the windowed Tessera-window.exe and, if chosen, the folder holding the
; tessera.exe command to PATH. User data (%LOCALAPPDATA%\tessera) is never touched, so an
; upgrade or an uninstall keeps settings, imported models and results.

#ifndef AppVersion
  #error Pass /DAppVersion=<version> (build_app.py does)
#endif
#ifndef SourceDir
  #error Pass /DSourceDir=<the PyInstaller one-folder build> (build_app.py does)
#endif
#ifndef IconFile
  #error Pass /DIconFile=<tessera.ico> (build_app.py does)
#endif

[Setup]
AppId={{5B0F3C1E-7A43-4E8B-9C55-2B7D61A0C3F4}
AppName=Tessera
AppVersion={#AppVersion}
AppPublisher=Tessera
DefaultDirName={autopf}\Tessera
DefaultGroupName=Tessera
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=tessera-{#AppVersion}-windows-x64-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\Tessera-window.exe
Compression=lzma2
SolidCompression=yes
ChangesEnvironment=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the tessera command to PATH"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Tessera"; Filename: "{app}\Tessera-window.exe"
Name: "{autodesktop}\Tessera"; Filename: "{app}\Tessera-window.exe"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "{code:EnvironmentKey}"; ValueType: expandsz; ValueName: "Path"; \
  ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NotOnPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\Tessera-window.exe"; Description: "{cm:LaunchProgram,Tessera}"; Flags: nowait postinstall skipifsilent

[Code]
function EnvironmentKey(Param: string): string;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function NotOnPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKA, EnvironmentKey(''), 'Path', Path) then
    Result := True
  else
    Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;
