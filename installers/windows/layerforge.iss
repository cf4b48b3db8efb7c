; Inno Setup script: installs the one-folder bundle built by PyInstaller on Windows.
;
;   pyinstaller --noconfirm --distpath installers\dist --workpath installers\build installers\layerforge.spec
;   "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" installers\windows\layerforge.iss
;
; Output: installers\dist\LayerForge-<version>-setup.exe. Per-user install by default (no admin
; prompt); the user can choose an all-users install in the wizard.

#define AppName "LayerForge"
; the version: pass it as ISCC /DAppVersion=X.Y.Z, else pyproject.toml's (keep in step)
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppPublisher "LayerForge"
#define AppExe "LayerForge.exe"

[Setup]
; a fixed AppId: upgrades replace the previous version instead of installing beside it
AppId={{5C7E6B0A-3F1D-4E8B-9A52-7D4C1B2E9F30}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher={#AppPublisher}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
SetupIconFile=..\..\resources\icons\layerforge.ico
UninstallDisplayIcon={app}\{#AppExe}
OutputDir=..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-setup
; torch makes the bundle large: LZMA2 solid compression roughly halves the download
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\dist\LayerForge\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\{#AppExe}"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

; layerforge-cli.exe (the command line, a console exe) is installed beside it: run it from a
; terminal, e.g. "%LOCALAPPDATA%\Programs\LayerForge\layerforge-cli.exe" templates

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; PyInstaller's bundle writes no files of its own at run time; user data (settings, autosave)
; lives in the user's profile and is kept on uninstall on purpose.
Type: dirifempty; Name: "{app}"
